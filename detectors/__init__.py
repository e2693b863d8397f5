"""Pure detection logic: data types, zones and floor geometry, tracking adapter, roles, motion gate,
audio features and the behaviour rules.

Nothing here reads the wall clock or touches the network, the disk or other processes: every call takes
its data and the media time `now` as arguments and returns events.
"""
