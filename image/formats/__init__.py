"""Virtual disk formats written from the sparse raw disk: VMDK for ESXi, VHDX for Hyper-V.

Pure Python over the raw file: no qemu-img, VirtualBox or ovftool at build time, so
the build needs nothing beyond the kit, and the output is byte-for-byte reproducible.
qemu-img is the tests' oracle (tests/image/test_image_formats.py).
"""
