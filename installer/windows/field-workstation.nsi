; Field Workstation: Windows installer (NSIS 3).
;
; Built on the Windows build machine after PyInstaller (see installer/windows/build.ps1 and
; docs/installer.md):
;   makensis /DVERSION=0.1.0 /DDIST_DIR=dist\field-workstation /DICON_FILE=build\icons\field-workstation.ico ^
;            /DOUTFILE=dist\field-workstation-0.1.0-setup.exe installer\windows\field-workstation.nsi
;
; Install modes:
;   default      per user, no administrator rights: %LOCALAPPDATA%\Programs\Field Workstation,
;                uninstall entry and shortcuts for the current user only (HKCU).
;   /ALLUSERS    machine-wide for agency IT: %ProgramFiles%\Field Workstation, HKLM uninstall entry,
;                shortcuts for all users. Needs an elevated process (SCCM/Intune run as SYSTEM, or an
;                administrator's "Run as administrator"); refused otherwise, never half-installed.
;   /CONFIG=FILE copy FILE to %ProgramData%\field-workstation\config.toml (the agency-wide settings;
;                with /ALLUSERS only, because only administrators may write there).
;   /S           silent (no UI); /D=PATH (last argument, unquoted) overrides the install folder.
; Silent machine-wide example (agency IT):
;   field-workstation-0.1.0-setup.exe /S /ALLUSERS /CONFIG=\\server\share\config.toml
; Silent uninstall: "<install dir>\uninstall.exe" /S   (add /ALLUSERS for a machine-wide install)
; Exit code: 0 success, 1 cancelled or failed, 2 /ALLUSERS without administrator rights.

Unicode true
ManifestDPIAware true
SetCompressor /SOLID lzma
RequestExecutionLevel user

!ifndef VERSION
  !error "pass /DVERSION=x.y.z (the version in pyproject.toml)"
!endif
!ifndef DIST_DIR
  !error "pass /DDIST_DIR=path to the PyInstaller onedir output (dist\field-workstation)"
!endif
!ifndef OUTFILE
  !define OUTFILE "field-workstation-${VERSION}-setup.exe"
!endif

!define APP_NAME "Field Workstation"
!define APP_EXE "field-workstation.exe"
!define APP_KEY "FieldWorkstation"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP_KEY}"
!define CONFIG_DIR_NAME "field-workstation"

!include "MUI2.nsh"
!include "FileFunc.nsh"
!include "LogicLib.nsh"
!include "x64.nsh"

Name "${APP_NAME}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${APP_NAME}"
BrandingText "${APP_NAME} ${VERSION}"
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "${APP_NAME}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${APP_NAME} installer"
VIAddVersionKey "LegalCopyright" "Field Workstation project"

!ifdef ICON_FILE
  !define MUI_ICON "${ICON_FILE}"
  !define MUI_UNICON "${ICON_FILE}"
!endif
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\${APP_EXE}"
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Var AllUsers
Var ConfigFile

!macro RequireAdminForAllUsers
  UserInfo::GetAccountType
  Pop $0
  ${If} $0 != "Admin"
    IfSilent +2
      MessageBox MB_ICONSTOP "/ALLUSERS installs for every user of this computer and needs administrator rights. Run the installer elevated, or without /ALLUSERS for your account only."
    SetErrorLevel 2
    Quit
  ${EndIf}
!macroend

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "${APP_NAME} needs 64-bit Windows 10 or later."
    SetErrorLevel 1
    Quit
  ${EndIf}
  SetRegView 64
  StrCpy $AllUsers "0"
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/ALLUSERS" $R1
  ${IfNot} ${Errors}
    StrCpy $AllUsers "1"
  ${EndIf}
  ClearErrors
  ${GetOptions} $R0 "/CONFIG=" $ConfigFile
  ${If} ${Errors}
    StrCpy $ConfigFile ""
  ${EndIf}
  ${If} $AllUsers == "1"
    !insertmacro RequireAdminForAllUsers
    ; $INSTDIR still holds the per-user default unless /D= replaced it. Compared before the
    ; context switch, because $LOCALAPPDATA means %ProgramData% in the all-users context.
    ${If} $INSTDIR == "$LOCALAPPDATA\Programs\${APP_NAME}"
      StrCpy $INSTDIR "$PROGRAMFILES64\${APP_NAME}"
    ${EndIf}
    SetShellVarContext all
  ${Else}
    SetShellVarContext current
    ${If} $ConfigFile != ""
      MessageBox MB_ICONSTOP "/CONFIG writes the agency-wide settings and needs /ALLUSERS."
      SetErrorLevel 1
      Quit
    ${EndIf}
  ${EndIf}
FunctionEnd

Section "Install"
  ; An upgrade replaces the whole bundle: stale Qt/Chromium files from an older version must not
  ; survive next to new ones (the QtWebEngineProcess mismatch updaters hit, tufup #145).
  RMDir /r "$INSTDIR\_internal"
  SetOutPath "$INSTDIR"
  File /r "${DIST_DIR}\*"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  ${If} $ConfigFile != ""
    ; $APPDATA is %ProgramData% here: /CONFIG requires /ALLUSERS, which set the all-users context.
    CreateDirectory "$APPDATA\${CONFIG_DIR_NAME}"
    ClearErrors
    CopyFiles /SILENT "$ConfigFile" "$APPDATA\${CONFIG_DIR_NAME}\config.toml"
    ${If} ${Errors}
      DetailPrint "Could not copy $ConfigFile"
      SetErrorLevel 1
      Abort "Could not copy the configuration file $ConfigFile."
    ${EndIf}
  ${EndIf}

  CreateShortCut "$SMPROGRAMS\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}"

  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  ${If} $AllUsers == "1"
    WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayName" "${APP_NAME}"
    WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
    WriteRegStr HKLM "${UNINSTALL_KEY}" "Publisher" "Field Workstation project"
    WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\${APP_EXE}"
    WriteRegStr HKLM "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
    WriteRegStr HKLM "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe" /ALLUSERS'
    WriteRegStr HKLM "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /ALLUSERS /S'
    WriteRegDWORD HKLM "${UNINSTALL_KEY}" "EstimatedSize" "$0"
    WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoModify" 1
    WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoRepair" 1
  ${Else}
    WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${APP_NAME}"
    WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
    WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "Field Workstation project"
    WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\${APP_EXE}"
    WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
    WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
    WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
    WriteRegDWORD HKCU "${UNINSTALL_KEY}" "EstimatedSize" "$0"
    WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
    WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
  ${EndIf}
SectionEnd

Function un.onInit
  SetRegView 64
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/ALLUSERS" $R1
  ${IfNot} ${Errors}
    !insertmacro RequireAdminForAllUsers
    SetShellVarContext all
    StrCpy $AllUsers "1"
  ${Else}
    SetShellVarContext current
    StrCpy $AllUsers "0"
  ${EndIf}
FunctionEnd

Section "Uninstall"
  ; The officer's encrypted data (%LOCALAPPDATA%\field-workstation) and the agency configuration
  ; (%ProgramData%\field-workstation) are left alone: removing the program must not destroy
  ; unsynced work; the app's own crypto-wipe handles decommissioning.
  Delete "$SMPROGRAMS\${APP_NAME}.lnk"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\${APP_EXE}"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  ${If} $AllUsers == "1"
    DeleteRegKey HKLM "${UNINSTALL_KEY}"
  ${Else}
    DeleteRegKey HKCU "${UNINSTALL_KEY}"
  ${EndIf}
SectionEnd
