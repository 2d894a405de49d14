import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MOTION4D_NO_PROGRESS", "1")
