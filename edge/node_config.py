"""Config of the live node's process layout (its own capability model, composed into NodeConfig)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RuntimeConfig(BaseModel):
    """Processes and queues of `hallwatch edge`: one capture process per camera, shared detector workers."""

    model_config = ConfigDict(extra="forbid")

    detector_workers: int | None = Field(None, ge=1, le=64, description="detector processes shared by all "
                                         "cameras, one inference thread each; default: one per core")
    inflight_per_worker: int = Field(1, ge=1, le=8, description="jobs handed to a worker at once")
    max_batch_jobs: int = Field(4, ge=1, le=64, description="jobs of different cameras already waiting for a "
                                "free detector go to it as one batch (1: never batch)")
    camera_queue: int = Field(3, ge=1, le=32, description="frames of one camera waiting behind the one at "
                              "the detector; one more drops the oldest (policy drop_oldest)")
    ring_slots: int = Field(6, ge=2, le=64, description="shared-memory frame slots per camera (the bound "
                            "of the capture queue; a full ring drops the new frame, policy drop_newest)")
    capture_nice: int = Field(15, ge=0, le=19, description="niceness added to capture processes. Decoding "
                              "tolerates delay (the ring buffers it), the serial per-frame path does not, and "
                              "with many cameras the decoders (one process each) would otherwise out-vote the "
                              "few detector processes and the main process: at nice 5 twenty decoders weigh "
                              "20 x 335 against 3 x 1024 for the consumers in Linux's scheduler, at 15 only "
                              "20 x 36. Measured at 20 cameras: nice 5 dropped 1 and 117 frames in two runs, "
                              "nice 15 none (bench/README.md)")
    stats_every_s: float = Field(10.0, gt=0, le=3600, description="how often stats are published")
    late_after_s: float = Field(1.0, gt=0, le=60, description="a frame handled this long after capture "
                                "counts as late (the node is not keeping up)")
