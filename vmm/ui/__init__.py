"""Talking to the user: the click CLI, the picker and its menu back-ends, rendering, notifications.

May import every layer below it."""
