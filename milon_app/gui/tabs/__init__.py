"""One module per tab; each builds its widgets from a :class:`milon_app.gui.context.GuiContext`."""
