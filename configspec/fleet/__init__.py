"""Many devices, one server: emulated edge devices against a real verification server
(`configspec fleet`), and the fleet file they are described in (docs/fleet.md)."""
