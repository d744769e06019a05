"""EVM contract layer: client, deployment, typed bindings, event following."""
