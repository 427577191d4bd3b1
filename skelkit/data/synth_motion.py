"""Class-dependent skeleton motion for synthetic datasets (``skelkit synth``).

A skeleton is posed by forward kinematics on the 25-joint Kinect tree: a rest pose in
metres (body frame: x = the performer's right, y up, the performer faces -z) and per-frame
joint rotations. Every action class is a *program*: a few joint angles (shoulder, elbow,
hip, knee, spine, neck) that follow class-specific waveforms (centre, amplitude, cycles,
phase), optionally a root movement (steps, bobbing, turning) and, for two-person classes,
a partner with its own program and a class-specific approach. Programs depend only on the
class index, so a class means the same motion for every dataset and seed.

A *performance* instantiates a program with per-sample variation: performer size and style
(from the subject), speed and time warp, amplitude, centre and phase jitter.
:func:`view_performance` places it in a camera's coordinates (rotation about the vertical
axis, position) and adds sensor noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skelkit.data.skeleton import NUM_JOINTS

#: Seeds of the random streams that do not depend on the user's ``--seed``.
CLASS_STREAM = 0x5CE1
SUBJECT_STREAM = 0x5B1E

#: Forward-kinematics parent of every joint (anatomical: thumb and hand tip hang from the hand).
FK_PARENTS: tuple[int, ...] = (
    -1, 0, 20, 2, 20, 4, 5, 6, 20, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18, 1, 7, 7, 11, 11,
)  # fmt: skip
#: Joints in an order where every parent comes before its children.
FK_ORDER: tuple[int, ...] = (
    0, 1, 20, 2, 3, 4, 5, 6, 7, 21, 22, 8, 9, 10, 11, 23, 24, 12, 13, 14, 15, 16, 17, 18, 19,
)  # fmt: skip

#: Offset of every joint from its FK parent in the rest pose, metres, body frame.
_LEFT_OFFSETS = {
    4: (-0.17, -0.03, 0.0),  # shoulder from spine shoulder
    5: (-0.03, -0.27, 0.0),  # elbow
    6: (0.0, -0.25, 0.0),  # wrist
    7: (0.0, -0.07, 0.0),  # hand
    21: (0.0, -0.08, 0.0),  # hand tip
    22: (0.02, -0.04, -0.04),  # thumb
    12: (-0.08, -0.06, 0.0),  # hip from spine base
    13: (0.0, -0.42, 0.0),  # knee
    14: (0.0, -0.40, 0.0),  # ankle
    15: (0.0, -0.05, -0.11),  # foot
}
_MIRROR = {4: 8, 5: 9, 6: 10, 7: 11, 21: 23, 22: 24, 12: 16, 13: 17, 14: 18, 15: 19}
_CENTRE_OFFSETS = {
    0: (0.0, 0.0, 0.0),
    1: (0.0, 0.27, 0.0),
    20: (0.0, 0.22, 0.0),
    2: (0.0, 0.07, 0.0),
    3: (0.0, 0.14, -0.01),
}
#: Height of the spine base above the floor in the rest pose (metres, scale 1).
HIP_HEIGHT = 0.93


def rest_offsets() -> np.ndarray:
    """Return the rest-pose offsets ``(25, 3)`` of every joint from its FK parent."""
    offsets = np.zeros((NUM_JOINTS, 3))
    for joint, value in _CENTRE_OFFSETS.items():
        offsets[joint] = value
    for left, value in _LEFT_OFFSETS.items():
        offsets[left] = value
        offsets[_MIRROR[left]] = (-value[0], value[1], value[2])
    return offsets


@dataclass(frozen=True)
class Actuator:
    """A joint angle a program can drive: rotation of ``joint``'s children about ``axis``."""

    name: str
    joint: int
    axis: int  # 0 = x (flexion), 1 = y (twist), 2 = z (sideways)
    low: float  # feasible angle range, radians
    high: float


#: Every joint angle a class program may use (signs follow the body frame: +x flexion of an
#: arm or hip lifts the limb forward, the knee bends with negative angles).
ACTUATORS: tuple[Actuator, ...] = (
    Actuator("left_shoulder_raise", 4, 0, -0.4, 2.7),
    Actuator("right_shoulder_raise", 8, 0, -0.4, 2.7),
    Actuator("left_shoulder_out", 4, 2, -1.0, 0.1),
    Actuator("right_shoulder_out", 8, 2, -0.1, 1.0),
    Actuator("left_elbow", 5, 0, 0.0, 2.3),
    Actuator("right_elbow", 9, 0, 0.0, 2.3),
    Actuator("left_hip", 12, 0, -0.3, 1.1),
    Actuator("right_hip", 16, 0, -0.3, 1.1),
    Actuator("left_knee", 13, 0, -1.7, 0.0),
    Actuator("right_knee", 17, 0, -1.7, 0.0),
    Actuator("spine_bow", 1, 0, -0.9, 0.15),
    Actuator("spine_twist", 1, 1, -0.6, 0.6),
    Actuator("spine_lean", 1, 2, -0.35, 0.35),
    Actuator("neck_nod", 2, 0, -0.6, 0.3),
    Actuator("neck_turn", 2, 1, -0.8, 0.8),
    Actuator("left_upper_arm_twist", 4, 1, -0.9, 0.9),
    Actuator("right_upper_arm_twist", 8, 1, -0.9, 0.9),
)
_CYCLES = (0.5, 1.0, 1.5, 2.0, 3.0)


@dataclass(frozen=True)
class Program:
    """Joint-angle waveforms of one person: row ``i`` drives ``ACTUATORS[actuator[i]]``."""

    actuator: np.ndarray  # int (A,)
    centre: np.ndarray  # (A,) radians
    amplitude: np.ndarray  # (A,) radians
    cycles: np.ndarray  # (A,) periods over the action
    phase: np.ndarray  # (A,) radians
    root_shift: np.ndarray  # (3,) metres: side step, bob (up), forward/back
    root_cycles: float
    root_turn: float  # radians of yaw swing


@dataclass(frozen=True)
class ClassProgram:
    """An action class: the performer's program and, for interactions, the partner's."""

    label: int
    main: Program
    partner: Program | None
    distance: float  # metres between the two performers at rest
    approach: float  # metres the distance shrinks (negative: grows) at the peak
    length_fraction: float  # where the class's typical length lies in [min, max]

    @property
    def persons(self) -> int:
        """1 or 2."""
        return 1 if self.partner is None else 2


def _draw_program(rng: np.random.Generator, primary: int, extra: int, moving: bool) -> Program:
    others = [i for i in range(len(ACTUATORS)) if i != primary]
    chosen = [primary, *rng.choice(others, size=extra, replace=False).tolist()]
    centre, amplitude, cycles, phase = [], [], [], []
    for rank, index in enumerate(chosen):
        act = ACTUATORS[index]
        span = act.high - act.low
        amp = span * rng.uniform(0.3, 0.45) * (1.0 if rank == 0 else 0.6)
        centre.append(rng.uniform(act.low + amp, act.high - amp))
        amplitude.append(amp)
        cycles.append(float(rng.choice(_CYCLES)))
        phase.append(rng.uniform(0.0, 2.0 * np.pi))
    shift = np.zeros(3)
    turn = 0.0
    if moving:
        kind = int(rng.integers(0, 3))
        if kind == 0:
            shift[rng.integers(0, 2) * 2] = rng.uniform(0.2, 0.5) * rng.choice((-1.0, 1.0))
        elif kind == 1:
            shift[1] = rng.uniform(0.08, 0.25)
        else:
            turn = rng.uniform(0.4, 1.2) * rng.choice((-1.0, 1.0))
    return Program(
        actuator=np.asarray(chosen, dtype=np.int64),
        centre=np.asarray(centre),
        amplitude=np.asarray(amplitude),
        cycles=np.asarray(cycles),
        phase=np.asarray(phase),
        root_shift=shift,
        root_cycles=float(rng.choice((0.5, 1.0, 2.0))),
        root_turn=turn,
    )


def class_program(label: int, two_person: bool) -> ClassProgram:
    """Return the motion program of class ``label`` (0-based); it depends only on its arguments.

    The primary joint angle cycles through :data:`ACTUATORS` with the label, so neighbouring
    classes differ in the limb they move; one or two secondary angles, their waveforms and an
    optional root movement are drawn from a stream seeded by the label.
    """
    rng = np.random.default_rng([CLASS_STREAM, label])
    primary = label % len(ACTUATORS)
    main = _draw_program(rng, primary, int(rng.integers(1, 3)), moving=rng.random() < 0.35)
    partner = None
    distance, approach = 0.0, 0.0
    if two_person:
        partner = _draw_program(rng, int(rng.integers(0, len(ACTUATORS))), 1, moving=False)
        distance = rng.uniform(0.9, 1.5)
        approach = rng.uniform(-0.3, 0.5)
    return ClassProgram(label, main, partner, distance, approach, rng.uniform(0.2, 0.8))


@dataclass(frozen=True)
class Performer:
    """A subject's body and style, fixed per subject id."""

    scale: float  # overall body size
    proportions: np.ndarray  # (25,) per-bone length factors
    vigour: float  # amplitude gain of the performer's movements
    tempo: float  # length factor (>1: slower)


def performer(subject: int) -> Performer:
    """Return the body and style of subject ``subject`` (deterministic in the id)."""
    rng = np.random.default_rng([SUBJECT_STREAM, subject])
    return Performer(
        scale=rng.uniform(0.86, 1.12),
        proportions=rng.uniform(0.96, 1.04, size=NUM_JOINTS),
        vigour=rng.uniform(0.85, 1.15),
        tempo=rng.uniform(0.85, 1.2),
    )


def performance_length(
    program: ClassProgram, body: Performer, rng: np.random.Generator, min_len: int, max_len: int
) -> int:
    """Draw the number of frames of one performance of ``program`` by ``body``."""
    typical = min_len + program.length_fraction * (max_len - min_len)
    length = typical * body.tempo * rng.uniform(0.85, 1.15)
    return int(np.clip(round(length), min_len, max_len))


def _envelope(t: np.ndarray) -> np.ndarray:
    """0 -> 1 over the first 15% of the action and back to 0 over the last 15% (smooth)."""
    ramp = np.clip(np.minimum(t, 1.0 - t) / 0.15, 0.0, 1.0)
    return ramp * ramp * (3.0 - 2.0 * ramp)


def _axis_rotation(angle: np.ndarray, axis: int) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` about one body axis."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros((*np.shape(angle), 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out[..., axis, axis] = 1.0
    out[..., i, i] = c
    out[..., j, j] = c
    out[..., i, j] = -s
    out[..., j, i] = s
    return out


def yaw_matrix(angle: np.ndarray | float) -> np.ndarray:
    """Rotation ``(..., 3, 3)`` about the vertical (y) axis."""
    return _axis_rotation(np.asarray(angle, dtype=np.float64), 1)


def _joint_angles(
    program: Program, t: np.ndarray, gain: float, rng: np.random.Generator
) -> np.ndarray:
    """Per-frame Euler angles ``(T, 25, 3)`` of one person's program with sample jitter."""
    count = len(program.actuator)
    amplitude = program.amplitude * gain * rng.uniform(0.85, 1.15, size=count)
    centre = program.centre + rng.normal(0.0, 0.06, size=count)
    phase = program.phase + rng.normal(0.0, 0.2, size=count)
    wave = np.sin(2.0 * np.pi * program.cycles[None, :] * t[:, None] + phase[None, :])
    values = _envelope(t)[:, None] * (centre[None, :] + amplitude[None, :] * wave)
    angles = np.zeros((len(t), NUM_JOINTS, 3))
    for k, index in enumerate(program.actuator.tolist()):
        act = ACTUATORS[index]
        angles[:, act.joint, act.axis] += np.clip(values[:, k], act.low, act.high)
    return angles


def _root_motion(
    program: Program, t: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Root translation ``(T, 3)`` (body frame) and yaw ``(T,)`` of one person."""
    gain = rng.uniform(0.8, 1.2)
    phase = rng.normal(0.0, 0.2)
    wave = np.sin(np.pi * program.root_cycles * t + phase)
    env = _envelope(t)
    shift = gain * env[:, None] * program.root_shift[None, :] * wave[:, None]
    shift[:, 1] = gain * env * program.root_shift[1] * np.abs(wave)  # bob upwards only
    yaw = gain * program.root_turn * env * wave
    return shift, yaw


def forward_kinematics(angles: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pose a skeleton: joint angles ``(T, 25, 3)`` -> positions and world rotations.

    Returns positions ``(T, 25, 3)`` relative to the spine base and each joint's world
    rotation ``(T, 25, 3, 3)`` (the rotation applied to its children's offsets).
    """
    frames = angles.shape[0]
    local = (
        _axis_rotation(angles[..., 1], 1)
        @ _axis_rotation(angles[..., 0], 0)
        @ _axis_rotation(angles[..., 2], 2)
    )
    world = np.empty((frames, NUM_JOINTS, 3, 3))
    pos = np.zeros((frames, NUM_JOINTS, 3))
    for joint in FK_ORDER:
        parent = FK_PARENTS[joint]
        if parent < 0:
            world[:, joint] = local[:, joint]
            continue
        pos[:, joint] = pos[:, parent] + world[:, parent] @ offsets[joint]
        world[:, joint] = world[:, parent] @ local[:, joint]
    return pos, world


@dataclass(frozen=True)
class Performance:
    """One take of an action in body/scene coordinates (before a camera sees it).

    Attributes:
        xyz: ``(M, T, 25, 3)`` joint positions in metres, y up, floor at ``y = 0``; the scene
            centre (between the two performers) is at the origin.
        rotations: ``(M, T, 25, 3, 3)`` joint world rotations (for orientation fields).
    """

    xyz: np.ndarray
    rotations: np.ndarray

    @property
    def persons(self) -> int:
        """Number of performers."""
        return int(self.xyz.shape[0])

    @property
    def length(self) -> int:
        """Number of frames."""
        return int(self.xyz.shape[1])


def _pose_person(
    program: Program, body: Performer, t: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    offsets = rest_offsets() * body.scale * body.proportions[:, None]
    angles = _joint_angles(program, t, body.vigour, rng)
    shift, yaw = _root_motion(program, t, rng)
    angles[:, 0, 1] += yaw
    pos, world = forward_kinematics(angles, offsets)
    pos = pos + shift[:, None, :]
    pos[..., 1] += HIP_HEIGHT * body.scale
    return pos, world


def perform(
    program: ClassProgram,
    bodies: tuple[Performer, ...],
    length: int,
    rng: np.random.Generator,
) -> Performance:
    """Instantiate ``program`` for ``length`` frames with one performer per person.

    Speed varies through a random time warp; amplitudes, centres and phases are jittered.
    Two performers face each other across the class's distance, which shrinks by the
    class's approach over the action.
    """
    t = np.linspace(0.0, 1.0, length) ** rng.uniform(0.8, 1.25)
    main_pos, main_rot = _pose_person(program.main, bodies[0], t, rng)
    if program.partner is None:
        return Performance(main_pos[None], main_rot[None])
    partner_pos, partner_rot = _pose_person(program.partner, bodies[1], t, rng)
    half = 0.5 * (program.distance * rng.uniform(0.9, 1.1) - program.approach * _envelope(t))
    placed_pos, placed_rot = [], []
    for pos, rot, side in ((main_pos, main_rot, -1.0), (partner_pos, partner_rot, 1.0)):
        turn = yaw_matrix(side * np.pi / 2.0)  # face the other performer
        moved = pos @ turn.T
        moved[..., 0] += side * half[:, None]
        placed_pos.append(moved)
        placed_rot.append(turn @ rot)
    return Performance(np.stack(placed_pos), np.stack(placed_rot))


def place_in_camera(
    xyz: np.ndarray,
    yaw: float,
    position: np.ndarray,
    noise: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Camera coordinates of scene joints ``(..., 25, 3)``: turn about the vertical, move, jitter.

    Args:
        yaw: radians; 0 means the (main) performer faces the camera.
        position: ``(3,)`` where the scene's floor centre lands in camera space (metres;
            Kinect camera space: y up, z away from the camera).
        noise: standard deviation of the per-joint sensor noise in metres.
    """
    placed = xyz @ yaw_matrix(yaw).T + np.asarray(position, dtype=np.float64)
    return placed + rng.normal(0.0, noise, size=placed.shape)


def view_performance(
    performance: Performance,
    yaw: float,
    position: np.ndarray,
    noise: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """A performance seen by a camera (see :func:`place_in_camera` for the arguments).

    Returns:
        ``(M, T, 25, 3)`` camera-space joints and ``(M, T, 25, 3, 3)`` joint rotations in
        camera space.
    """
    xyz = place_in_camera(performance.xyz, yaw, position, noise, rng)
    return xyz, yaw_matrix(yaw) @ performance.rotations


def rotation_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternions ``(..., 4)`` as ``(w, x, y, z)`` with ``w >= 0`` from ``(..., 3, 3)``."""
    m = rotation
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    candidates = np.stack(
        [
            np.stack(
                [
                    1.0 + trace,
                    m[..., 2, 1] - m[..., 1, 2],
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 1, 0] - m[..., 0, 1],
                ],
                -1,
            ),
            np.stack(
                [
                    m[..., 2, 1] - m[..., 1, 2],
                    1.0 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
                    m[..., 0, 1] + m[..., 1, 0],
                    m[..., 0, 2] + m[..., 2, 0],
                ],
                -1,
            ),
            np.stack(
                [
                    m[..., 0, 2] - m[..., 2, 0],
                    m[..., 0, 1] + m[..., 1, 0],
                    1.0 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
                    m[..., 1, 2] + m[..., 2, 1],
                ],
                -1,
            ),
            np.stack(
                [
                    m[..., 1, 0] - m[..., 0, 1],
                    m[..., 0, 2] + m[..., 2, 0],
                    m[..., 1, 2] + m[..., 2, 1],
                    1.0 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
                ],
                -1,
            ),
        ],
        -2,
    )
    diag = np.stack([trace, m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]], -1)
    best = np.argmax(diag, axis=-1)
    quat = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    quat = quat / np.linalg.norm(quat, axis=-1, keepdims=True)
    return np.where(quat[..., :1] < 0.0, -quat, quat)
