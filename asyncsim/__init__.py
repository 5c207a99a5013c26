"""asyncsim: exact wall-clock simulation of asynchronous distributed RL methods."""

__version__ = "0.1.0"
