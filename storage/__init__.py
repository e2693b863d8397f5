"""Evidence storage: the pre-roll ring of encoded packets, the clip writer (remux, no re-encode),
snapshots, the crash-safe clip index, retention and the upload to the central service.

    ring.py         PacketRing / SampleRing: last pre_s seconds of packets (from a keyframe) / mic samples
    clip_writer.py  ClipWriter (fragmented .part MP4, stream copy + AAC mic), finalize_part (atomic MP4)
    encoder.py      Transcoder: GIF/MJPEG/raw -> H.264 once, worker thread, bounded queue (drop_newest)
    recorder.py     ClipRecorder: one per camera; push_packet / push_audio / on_event / close
    index.py        ClipIndex: SQLite rows recording -> complete | failed -> deleted
    recovery.py     recover(index): resolve what a crash (kill -9) left; run at start-up
    retention.py    apply_retention(index, cfg, protected_event_ids, now): keep_days, max_gb, disk low
    snapshot.py     render_snapshot (zones, people), FaceBlur (YuNet)
    uploader.py     ClipUploader: POST /api/clips to central, on-disk queue, retries (why upload: there)
"""
