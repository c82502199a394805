"""Helpers of the fault-injection tests: the tiny world's sizes and a line editor."""

TINY = dict(raf_tasks=60, raf_workers=40, raf_votes_per_task=12, raf_spammer_fraction=0.1,
            affectnet_train=12, affectnet_val=8, affectnet_flip_rate=0.5, fer2013_images=10,
            ckplus_subjects=2, ckplus_frames=3, jaffe_subjects=1, jaffe_poses=1, sfew_train=6, sfew_val=4,
            emotionet_images=10, emotionet_emotion_fraction=0.5, mmi_subjects=1, mmi_sequences=2, mmi_frames=5,
            oulu_subjects=1, oulu_frames=3)
"""A smoke world small enough to generate in about two seconds (every dataset, every format)."""


def edit_lines(path, edit):
    """Rewrite a text file through ``edit(lines) -> lines``."""
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")
