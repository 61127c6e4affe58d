"""Solutions to 05_interrupts_and_time_travel: each block replaces the line(s) marked ← in that exercise's cell."""

# %% exercise 1
checkpoint_count = len(list(agent.get_state_history(config)))

# %% exercise 2
first_wait = [s for s in agent.get_state_history(config) if s.next == ("review",)][-1]

# %% exercise 3
my_question = "What is the weather in Paris?"
