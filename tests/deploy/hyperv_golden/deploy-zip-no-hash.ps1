# nps-kit: deploy (rendered from templates/hyperv/deploy.ps1.j2; do not edit)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Version 3.0
$Apply = $true

$VmName = 'nps-sensor'
$VmPath = 'C:\Hyper-V'
$Vhdx = 'C:\Hyper-V\nps-sensor\Virtual Hard Disks\nps-sensor-0.1.0-disk1.vhdx'
$DiskZip = 'C:\Hyper-V\nps-sensor\nps-sensor-0.1.0-vhdx.zip'
$DiskSha256 = $null
$MemoryBytes = 8589934592
$Cpus = 4
$ManagementSwitch = 'LAN'
$ManagementNic = 'Management'
$SniffingAdapter = 'Ethernet 2'
$SniffingSwitch = 'nps-sniffing'
$SniffingNic = 'Sniffing'
$SerialPipe = '\\.\pipe\nps-sensor-com1'
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

Invoke-Check 'management-switch' ('virtual switch {0}' -f $ManagementSwitch) {
    Find-Switch $ManagementSwitch
} ('no virtual switch named {0} on this host (Get-VMSwitch lists them)' -f $ManagementSwitch)

Invoke-Check 'sniffing-adapter' ('physical adapter {0}' -f $SniffingAdapter) {
    Get-NetAdapter -Physical | Where-Object { $_.Name -eq $SniffingAdapter }
} ('no physical network adapter named {0} on this host (Get-NetAdapter -Physical lists them)' -f $SniffingAdapter)

Invoke-Step 'disk' ('{0}, expanded from {1}' -f $Vhdx, $DiskZip) {
    Test-Path -LiteralPath $Vhdx -PathType Leaf
} {
    $hash = (Get-FileHash -LiteralPath $DiskZip -Algorithm SHA256).Hash
    if ($DiskSha256 -and $hash -ne $DiskSha256) {
        throw ('{0} has SHA256 {1}, not {2}: copy it again' -f $DiskZip, $hash, $DiskSha256)
    }
    Expand-Archive -LiteralPath $DiskZip -DestinationPath (Split-Path -Parent $Vhdx) -Force
    if (-not (Test-Path -LiteralPath $Vhdx -PathType Leaf)) {
        throw ('{0} holds no {1}' -f $DiskZip, (Split-Path -Leaf $Vhdx))
    }
}

Invoke-Step 'vm' ('{0}: Generation 1, {1}' -f $VmName, $Vhdx) {
    $vm = Find-VM
    if ($vm -and $vm.Generation -ne 1) {
        throw ('VM {0} exists and is Generation {1}: remove it or choose another VM name' -f $VmName, $vm.Generation)
    }
    [bool]$vm
} {
    $vm = New-VM -Name $VmName -Generation 1 -MemoryStartupBytes $MemoryBytes -VHDPath $Vhdx -Path $VmPath -SwitchName $ManagementSwitch
    Get-VMNetworkAdapter -VM $vm | Rename-VMNetworkAdapter -NewName $ManagementNic
}

Invoke-Step 'memory' ('{0} MiB, static' -f ($MemoryBytes / 1048576)) {
    $vm = Find-VM
    $vm -and -not $vm.DynamicMemoryEnabled -and $vm.MemoryStartup -eq $MemoryBytes
} {
    Assert-Off 'memory and processors'
    Set-VMMemory -VM (Find-VM) -DynamicMemoryEnabled $false -StartupBytes $MemoryBytes
}

Invoke-Step 'processors' ('{0} virtual processors' -f $Cpus) {
    $vm = Find-VM
    $vm -and (Get-VMProcessor -VM $vm).Count -eq $Cpus
} {
    Assert-Off 'memory and processors'
    Set-VMProcessor -VM (Find-VM) -Count $Cpus
}

Invoke-Step 'stop-action' 'automatic stop action TurnOff' {
    $vm = Find-VM
    $vm -and $vm.AutomaticStopAction -eq 'TurnOff'
} {
    Assert-Off 'automatic stop action'
    Set-VM -VM (Find-VM) -AutomaticStopAction TurnOff
}

Invoke-Step 'serial-console' ('COM1, the appliance console, on {0}' -f $SerialPipe) {
    $vm = Find-VM
    $vm -and (Get-VMComPort -VM $vm -Number 1).Path -eq $SerialPipe
} {
    Assert-Off 'COM ports'
    Set-VMComPort -VM (Find-VM) -Number 1 -Path $SerialPipe
}

Invoke-Step 'management-nic' ('{0} on {1}' -f $ManagementNic, $ManagementSwitch) {
    $nic = Find-Nic $ManagementNic
    $nic -and $nic.SwitchName -eq $ManagementSwitch
} {
    $nic = Find-Nic $ManagementNic
    if ($nic) {
        Connect-VMNetworkAdapter -VMNetworkAdapter $nic -SwitchName $ManagementSwitch
    } else {
        Assert-Off 'network adapters'
        Add-VMNetworkAdapter -VM (Find-VM) -Name $ManagementNic -SwitchName $ManagementSwitch
    }
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

Invoke-Step 'power' ('{0} running' -f $VmName) {
    $vm = Find-VM
    $vm -and $vm.State -eq 'Running'
} {
    Start-VM -VM (Find-VM)
}
