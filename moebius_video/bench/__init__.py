"""Benchmarks (``moebius-video bench WHAT``): one module per measured thing.

- :mod:`~moebius_video.bench.pipeline`: file mode frames/s against decode+encode, peak memory;
- :mod:`~moebius_video.bench.live`: live mode latency and frames/s;
- :mod:`~moebius_video.bench.fill`: fillers' frames/s against Telea;
- :mod:`~moebius_video.bench.model`: the Moebius network's ms per step and per image;
- :mod:`~moebius_video.bench.tracking`: trackers' frames/s.

Each measures against a baseline run in the same process (the machines are shared and
noisy) and returns rows; :mod:`~moebius_video.bench.common` holds the tables, JSON, timers
and synthetic footage they share. The flags live in :mod:`moebius_video.cli.bench`.
"""
