"""Demo data for signups."""

from didactics.demo import DemoContext


def demo(context: DemoContext) -> None:
    """Add this capability's part of the demo program."""
