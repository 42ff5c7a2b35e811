$ProgressPreference = 'SilentlyContinue'
$script = $input | Out-String
try {
    & ([ScriptBlock]::Create($script))
} catch {
    [Console]::Error.WriteLine($_.Exception.Message)
    exit 1
}
