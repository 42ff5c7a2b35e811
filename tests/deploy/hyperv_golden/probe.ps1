# nps-kit: probe (rendered from templates/hyperv/probe.ps1.j2; do not edit)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Version 3.0
$Apply = $false

$VmName = 'nps-sensor'
$Vhdx = 'C:\Hyper-V\nps-sensor\Virtual Hard Disks\nps-sensor-0.1.0-disk1.vhdx'
$DiskZip = 'C:\Hyper-V\nps-sensor\nps-sensor-0.1.0-vhdx.zip'
$ManagementSwitch = 'LAN'
$SniffingAdapter = 'Ethernet 2'

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

$zipHash = $null
$hasVhdx = Test-Path -LiteralPath $Vhdx -PathType Leaf
if (-not $hasVhdx -and (Test-Path -LiteralPath $DiskZip -PathType Leaf)) {
    $zipHash = (Get-FileHash -LiteralPath $DiskZip -Algorithm SHA256).Hash
}
$disk = [ordered]@{ vhdx = $hasVhdx; zip_sha256 = $zipHash }
[Console]::Out.WriteLine((@{ disk = $disk } | ConvertTo-Json -Compress))
