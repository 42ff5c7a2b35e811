"""Builds the appliance image (OVA for ESXi, VHDX for Hyper-V) and proves it boots."""
