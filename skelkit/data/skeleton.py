"""The Kinect v2 25-joint skeleton used by NTU RGB+D and PKU-MMD.

Joint indices here are 0-based (the NTU paper numbers them 1..25; index = number - 1).
:data:`BONES` is the joint graph of the field's NTU models (the same edges as the ST-GCN /
CTR-GCN "ntu-rgb+d" layout): every joint except the root is linked to one neighbour
closer to the spine. Note the hand chain of that graph: the hand tip hangs from the thumb,
and the thumb from the hand.
"""

from __future__ import annotations

NUM_JOINTS = 25

#: Joint names by 0-based index.
JOINT_NAMES: tuple[str, ...] = (
    "spine_base",
    "spine_mid",
    "neck",
    "head",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "left_hand",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "right_hand",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_foot",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_foot",
    "spine_shoulder",
    "left_hand_tip",
    "left_thumb",
    "right_hand_tip",
    "right_thumb",
)

#: The root of :data:`BONES` (spine base).
ROOT_JOINT = 0
#: The joint the field's pipelines centre on (middle of the spine).
CENTER_JOINT = 1
#: Spine shoulder, the hub of the arms, neck and spine.
SPINE_SHOULDER = 20

#: Bones as ``(joint, neighbour towards the root)`` pairs, 0-based, 24 of them.
BONES: tuple[tuple[int, int], ...] = (
    (1, 0),
    (20, 1),
    (2, 20),
    (3, 2),
    (4, 20),
    (5, 4),
    (6, 5),
    (7, 6),
    (8, 20),
    (9, 8),
    (10, 9),
    (11, 10),
    (12, 0),
    (13, 12),
    (14, 13),
    (15, 14),
    (16, 0),
    (17, 16),
    (18, 17),
    (19, 18),
    (21, 22),
    (22, 7),
    (23, 24),
    (24, 11),
)

#: ``(left, right)`` joint pairs that swap under a left/right mirror.
LEFT_RIGHT_PAIRS: tuple[tuple[int, int], ...] = (
    (4, 8),
    (5, 9),
    (6, 10),
    (7, 11),
    (12, 16),
    (13, 17),
    (14, 18),
    (15, 19),
    (21, 23),
    (22, 24),
)


def joint_parents() -> tuple[int, ...]:
    """Return the neighbour towards the root of every joint (``-1`` for the root)."""
    parents = [-1] * NUM_JOINTS
    for joint, parent in BONES:
        parents[joint] = parent
    return tuple(parents)


def mirror_permutation() -> tuple[int, ...]:
    """Return the joint permutation that swaps left and right joints."""
    order = list(range(NUM_JOINTS))
    for left, right in LEFT_RIGHT_PAIRS:
        order[left], order[right] = right, left
    return tuple(order)
