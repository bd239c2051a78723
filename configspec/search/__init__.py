"""Search the joint space per device: exact enumeration (the ground truth) or Optuna."""
