"""Sample workflows: a writer of realistic agent folders and the `livewatch demo` simulator."""

from livewatch.demo.simulator import Simulator, copy_samples, sample_agents_dir
from livewatch.demo.stream import Conversation
from livewatch.demo.writer import AgentsWriter

__all__ = ["AgentsWriter", "Conversation", "Simulator", "copy_samples", "sample_agents_dir"]
