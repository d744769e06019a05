; MILON installer for Windows (NSIS 3, per-user: no administrator rights needed).
;
;   makensis /DVERSION=0.1.0 installers\windows\milon.nsi
;
; Payload: the PyInstaller one-folder build of installers/milon.spec made on
; Windows (build\dist\milon: milon.exe for the CLI and daemon, milon-gui.exe
; for the window, _internal\). Installs to %LOCALAPPDATA%\Programs\MILON,
; adds a Start-menu folder (MILON, Uninstall MILON), an Add/Remove Programs
; entry, and optionally a desktop shortcut and "run the node in the
; background at logon" (a per-user Run entry starting `milon-gui.exe --daemon`
; with the user's settings file; milon-gui has no console window).
; The uninstaller removes the program, the shortcuts and the Run entry; the
; wallet and the settings in the user's folders are kept.
; installers/windows/compile_check.sh compiles this script on Linux against a
; placeholder payload to prove it is valid.

Unicode true
!include "MUI2.nsh"

!ifndef VERSION
  !define VERSION "0.1.0"
!endif
!ifndef PAYLOAD
  !define PAYLOAD "${__FILEDIR__}/../../build/dist/milon"
!endif
!ifndef OUTFILE
  !define OUTFILE "${__FILEDIR__}/../../build/dist/milon-${VERSION}-windows-x64-setup.exe"
!endif
!define RESOURCES "${__FILEDIR__}/../../resources"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\MILON"
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define RUN_VALUE "MILON daemon"

Name "MILON ${VERSION}"
OutFile "${OUTFILE}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\MILON"
InstallDirRegKey HKCU "Software\MILON" "InstallDir"
SetCompressor /SOLID lzma
BrandingText "MILON ${VERSION}"
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "MILON"
VIAddVersionKey "FileDescription" "MILON installer"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "LegalCopyright" "MIT License, MILON contributors"

!define MUI_ICON "${RESOURCES}/milon.ico"
!define MUI_UNICON "${RESOURCES}/milon.ico"
!define MUI_ABORTWARNING
!define MUI_COMPONENTSPAGE_SMALLDESC
!define MUI_FINISHPAGE_RUN "$INSTDIR\milon-gui.exe"
!define MUI_FINISHPAGE_RUN_TEXT "Start MILON"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_LICENSE "${__FILEDIR__}/../../LICENSE"
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Section "MILON (required)" SecApp
  SectionIn RO
  SetOutPath "$INSTDIR"
  File /r "${PAYLOAD}/*.*"
  WriteUninstaller "$INSTDIR\Uninstall.exe"
  CreateDirectory "$SMPROGRAMS\MILON"
  CreateShortcut "$SMPROGRAMS\MILON\MILON.lnk" "$INSTDIR\milon-gui.exe" "" "$INSTDIR\milon-gui.exe" 0
  CreateShortcut "$SMPROGRAMS\MILON\Uninstall MILON.lnk" "$INSTDIR\Uninstall.exe"
  WriteRegStr HKCU "Software\MILON" "InstallDir" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "MILON"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "MILON contributors"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\milon-gui.exe"
  WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" '"$INSTDIR\Uninstall.exe"'
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1
SectionEnd

Section /o "Desktop shortcut" SecDesktop
  CreateShortcut "$DESKTOP\MILON.lnk" "$INSTDIR\milon-gui.exe" "" "$INSTDIR\milon-gui.exe" 0
SectionEnd

Section /o "Run the node in the background at logon" SecDaemon
  ; the user's settings file (written by the app's first run) must name a shared chain
  WriteRegStr HKCU "${RUN_KEY}" "${RUN_VALUE}" '"$INSTDIR\milon-gui.exe" --daemon'
SectionEnd

!insertmacro MUI_FUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecApp} "The MILON app, its command line (milon.exe) and the contract artifacts."
  !insertmacro MUI_DESCRIPTION_TEXT ${SecDesktop} "A MILON shortcut on the desktop."
  !insertmacro MUI_DESCRIPTION_TEXT ${SecDaemon} "Start `milon --daemon` (no window) when you log on, with your MILON settings. Do not use the window and the background node on the same wallet at once."
!insertmacro MUI_FUNCTION_DESCRIPTION_END

Section "Uninstall"
  DeleteRegValue HKCU "${RUN_KEY}" "${RUN_VALUE}"
  Delete "$DESKTOP\MILON.lnk"
  RMDir /r "$SMPROGRAMS\MILON"
  ; only what the installer put there: the wallet and settings live in the user's folders
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\milon.exe"
  Delete "$INSTDIR\milon-gui.exe"
  Delete "$INSTDIR\Uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKCU "${UNINST_KEY}"
  DeleteRegKey HKCU "Software\MILON"
SectionEnd
