"""The hub: the current truth in memory, numbered changes, bounded history and fan-out.

Records, wire encoding and views live here too. The hub imports nothing else of livewatch.
"""
