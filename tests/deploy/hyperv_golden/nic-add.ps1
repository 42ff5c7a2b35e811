# nps-kit: nic (rendered from templates/hyperv/nic.ps1.j2; do not edit)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Version 3.0
$Apply = $true

$VmName = 'nps-sensor'
$SniffingAdapter = 'Ethernet 3'
$SniffingSwitch = 'nps-sniffing (Ethernet 3)'
$SniffingNic = 'Sniffing (Ethernet 3)'
$PortSecurity = 'Ethernet Switch Port Security Settings'

function Write-Step([string]$Step, [string]$Status, [string]$Detail) {
    $line = [ordered]@{ step = $Step; status = $Status; detail = $Detail } | ConvertTo-Json -Compress
    [Console]::Out.WriteLine($line)
}

function Stop-Step([string]$Step, [string]$Reason) {
    Write-Step $Step 'failed' (($Reason -replace '\s+', ' ').Trim())
    throw ('step {0} failed' -f $Step)
}

function Invoke-Step([string]$Step, [string]$Detail, [scriptblock]$Test, [scriptblock]$Change) {
    try {
        if (& $Test) { Write-Step $Step 'ok' $Detail; return }
        if (-not $Apply) { Write-Step $Step 'change' $Detail; return }
        $null = & $Change
        Write-Step $Step 'changed' $Detail
    } catch {
        Stop-Step $Step $_.Exception.Message
    }
}

function Invoke-Check([string]$Step, [string]$Detail, [scriptblock]$Test, [string]$Problem) {
    $found = $false
    try { $found = [bool](& $Test) } catch { Stop-Step $Step $_.Exception.Message }
    if (-not $found) { Stop-Step $Step $Problem }
    Write-Step $Step 'ok' $Detail
}

function Find-VM {
    Get-VM | Where-Object { $_.Name -eq $VmName } | Select-Object -First 1
}

function Find-Switch([string]$Name) {
    Get-VMSwitch | Where-Object { $_.Name -eq $Name } | Select-Object -First 1
}

function Find-Nic([string]$Name) {
    $vm = Find-VM
    if ($vm) { Get-VMNetworkAdapter -VM $vm | Where-Object { $_.Name -eq $Name } | Select-Object -First 1 }
}

function Assert-Off([string]$What) {
    $vm = Find-VM
    if ($vm.State -ne 'Off') {
        throw ('VM {0} is {1}: its {2} change only while it is off; stop it and run again (inv deploy.hyperv-resize stops and starts it for its size)' -f $VmName, $vm.State, $What)
    }
}

Invoke-Check 'hyper-v' 'the Hyper-V PowerShell module' {
    Get-Command -Name 'New-VM' -Module 'Hyper-V' -ErrorAction SilentlyContinue
} 'the Hyper-V PowerShell module is missing: Install-WindowsFeature Hyper-V-PowerShell (Windows Server) or enable Microsoft-Hyper-V-Management-PowerShell'

Invoke-Check 'vm' ('VM {0}' -f $VmName) {
    Find-VM
} ('no VM named {0} on this host' -f $VmName)
Invoke-Check 'sniffing-adapter' ('physical adapter {0}' -f $SniffingAdapter) {
    Get-NetAdapter -Physical | Where-Object { $_.Name -eq $SniffingAdapter }
} ('no physical network adapter named {0} on this host (Get-NetAdapter -Physical lists them)' -f $SniffingAdapter)

$WasRunning = (Find-VM).State -eq 'Running'
$nic = Find-Nic $SniffingNic
$Ready = $nic -and $nic.SwitchName -eq $SniffingSwitch

Invoke-Step 'power-off' ('{0} off for the change' -f $VmName) {
    $Ready -or (Find-VM).State -eq 'Off'
} {
    Stop-VM -VM (Find-VM) -Force
}

Invoke-Step 'sniffing-switch' ('{0}: external on {1}, not shared with the host' -f $SniffingSwitch, $SniffingAdapter) {
    $switch = Find-Switch $SniffingSwitch
    if (-not $switch) { return $false }
    if ($switch.SwitchType -ne 'External') {
        throw ('virtual switch {0} exists and is {1}, not External: remove it or name another sniffing switch' -f $SniffingSwitch, $switch.SwitchType)
    }
    $adapter = Get-NetAdapter -Physical | Where-Object { $_.Name -eq $SniffingAdapter }
    if ($switch.NetAdapterInterfaceDescription -ne $adapter.InterfaceDescription) {
        throw ('virtual switch {0} is bound to {1}, not to {2}' -f $SniffingSwitch, $switch.NetAdapterInterfaceDescription, $SniffingAdapter)
    }
    -not $switch.AllowManagementOS
} {
    $switch = Find-Switch $SniffingSwitch
    if ($switch) {
        Set-VMSwitch -VMSwitch $switch -AllowManagementOS $false
    } else {
        New-VMSwitch -Name $SniffingSwitch -NetAdapterName $SniffingAdapter -AllowManagementOS $false
    }
}

Invoke-Step 'monitor-mode' ('external port of {0}: MonitorMode 2 (mirror source)' -f $SniffingSwitch) {
    if (-not (Find-Switch $SniffingSwitch)) { return $false }
    $feature = Get-VMSwitchExtensionPortFeature -ExternalPort -SwitchName $SniffingSwitch -FeatureName $PortSecurity
    [bool]($feature | Where-Object { $_.SettingData.MonitorMode -eq 2 })
} {
    $feature = Get-VMSwitchExtensionPortFeature -ExternalPort -SwitchName $SniffingSwitch -FeatureName $PortSecurity
    if ($feature) {
        $feature.SettingData.MonitorMode = 2
        Set-VMSwitchExtensionPortFeature -ExternalPort -SwitchName $SniffingSwitch -VMSwitchExtensionFeature $feature
    } else {
        $feature = Get-VMSystemSwitchExtensionPortFeature -FeatureName $PortSecurity
        $feature.SettingData.MonitorMode = 2
        Add-VMSwitchExtensionPortFeature -ExternalPort -SwitchName $SniffingSwitch -VMSwitchExtensionFeature $feature
    }
}

Invoke-Step 'sniffing-nic' ('{0} on {1}' -f $SniffingNic, $SniffingSwitch) {
    $nic = Find-Nic $SniffingNic
    $nic -and $nic.SwitchName -eq $SniffingSwitch
} {
    Assert-Off 'network adapters'
    $nic = Find-Nic $SniffingNic
    if ($nic) {
        Connect-VMNetworkAdapter -VMNetworkAdapter $nic -SwitchName $SniffingSwitch
    } else {
        Add-VMNetworkAdapter -VM (Find-VM) -Name $SniffingNic -SwitchName $SniffingSwitch
    }
}

Invoke-Step 'port-mirroring' ('{0}: port mirroring Destination' -f $SniffingNic) {
    $nic = Find-Nic $SniffingNic
    $nic -and $nic.PortMirroringMode -eq 'Destination'
} {
    Set-VMNetworkAdapter -VMNetworkAdapter (Find-Nic $SniffingNic) -PortMirroring Destination
}

Invoke-Step 'vlan-trunk' ('{0}: trunk of VLANs 1-4094, native VLAN 0' -f $SniffingNic) {
    $nic = Find-Nic $SniffingNic
    if (-not $nic) { return $false }
    $vlan = Get-VMNetworkAdapterVlan -VMNetworkAdapter $nic
    $vlan.OperationMode -eq 'Trunk' -and $vlan.NativeVlanId -eq 0 -and $vlan.AllowedVlanIdListString -eq '1-4094'
} {
    Set-VMNetworkAdapterVlan -VMNetworkAdapter (Find-Nic $SniffingNic) -Trunk -AllowedVlanIdList '1-4094' -NativeVlanId 0
}

Invoke-Step 'power-on' ('{0} running as before' -f $VmName) {
    -not $WasRunning -or (Find-VM).State -eq 'Running'
} {
    Start-VM -VM (Find-VM)
}
