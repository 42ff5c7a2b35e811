"""Where frames come from: capture files now, sniffing interfaces in the live service."""

from nps_sensor.capture.batch import Batch, batch_from_frames
from nps_sensor.capture.buffer import Buffer
from nps_sensor.capture.files import open_capture

__all__ = ["Batch", "Buffer", "batch_from_frames", "open_capture"]
