"""Sensors: long-running watchers that trigger work when something new arrives."""
