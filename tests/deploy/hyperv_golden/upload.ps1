begin {
    $ErrorActionPreference = 'Stop'
    Set-StrictMode -Version 3.0
    $Path = 'C:\Hyper-V\nps-sensor\nps-sensor-0.1.0-vhdx.zip'
    $Expected = '9F86D081884C7D659A2FEAEA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A0'
    $Partial = $Path + '.partial'
    $null = New-Item -ItemType Directory -Force -Path (Split-Path -Parent $Path)
    $file = [System.IO.File]::Create($Partial)
    $sha256 = [System.Security.Cryptography.SHA256]::Create()
    $size = 0
}
process {
    $bytes = [System.Convert]::FromBase64String($input)
    $null = $sha256.TransformBlock($bytes, 0, $bytes.Length, $bytes, 0)
    $file.Write($bytes, 0, $bytes.Length)
    $size += $bytes.Length
}
end {
    $file.Close()
    $null = $sha256.TransformFinalBlock([byte[]]::new(0), 0, 0)
    $hash = [System.BitConverter]::ToString($sha256.Hash).Replace('-', '')
    if ($hash -ne $Expected) {
        Remove-Item -LiteralPath $Partial -Force
        $detail = '{0}: received SHA256 {1}, sent {2}' -f $Path, $hash, $Expected
        [Console]::Out.WriteLine(([ordered]@{ step = 'upload'; status = 'failed'; detail = $detail } | ConvertTo-Json -Compress))
        exit 1
    }
    Move-Item -LiteralPath $Partial -Destination $Path -Force
    $detail = '{0}: {1} bytes, SHA256 {2}' -f $Path, $size, $hash
    [Console]::Out.WriteLine(([ordered]@{ step = 'upload'; status = 'changed'; detail = $detail } | ConvertTo-Json -Compress))
}
