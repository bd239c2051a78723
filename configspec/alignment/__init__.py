"""Draft-target alignment from teacher-forced traces (`configspec align`)."""
