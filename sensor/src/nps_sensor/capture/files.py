"""Open a capture file by its content, not its name."""

from __future__ import annotations

import mmap
import os
import struct

from nps_sensor.capture.buffer import Buffer
from nps_sensor.capture.pcap import MAGICS, PcapFile
from nps_sensor.capture.pcapng import SHB, PcapngFile
from nps_sensor.capture.source import CaptureFile
from nps_sensor.errors import CaptureError


def open_capture(path: str) -> CaptureFile:
    """Map the file and pick the reader from its magic number."""
    try:
        with open(path, "rb") as f:
            length = os.fstat(f.fileno()).st_size
            if length == 0:
                raise CaptureError(f"{path}: empty file, not a capture")
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        raise CaptureError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CaptureError(f"{path}: is a directory, not a capture file") from None
    except PermissionError:
        raise CaptureError(f"{path}: permission denied (run as a user who can read it)") from None
    except OSError as e:
        raise CaptureError(f"{path}: cannot read: {e.strerror}") from None
    buf = Buffer(data)
    if buf.size < 4:
        raise CaptureError(f"{path}: too short to be a capture ({buf.size} bytes)")
    (magic,) = struct.unpack_from("<I", data, 0)
    if magic in MAGICS:
        return PcapFile(path, buf)
    if magic == SHB:
        return PcapngFile(path, buf)
    raise CaptureError(f"{path}: not a pcap or pcapng file (magic {magic:#010x})")
