"""Deployers: VMware ESXi/vCenter with pyvmomi, Microsoft Hyper-V over WinRM."""
