# nps-kit: resize (rendered from templates/hyperv/resize.ps1.j2; do not edit)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Version 3.0
$Apply = $true

$VmName = 'nps-sensor'
$MemoryBytes = 25769803776
$Cpus = 16

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
$vm = Find-VM
$Resize = $vm.DynamicMemoryEnabled -or $vm.MemoryStartup -ne $MemoryBytes -or (Get-VMProcessor -VM $vm).Count -ne $Cpus
$WasRunning = $vm.State -eq 'Running'

Invoke-Step 'power-off' ('{0} off for the change' -f $VmName) {
    -not $Resize -or (Find-VM).State -eq 'Off'
} {
    Stop-VM -VM (Find-VM) -Force
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

Invoke-Step 'power-on' ('{0} running as before' -f $VmName) {
    -not $WasRunning -or (Find-VM).State -eq 'Running'
} {
    Start-VM -VM (Find-VM)
}
