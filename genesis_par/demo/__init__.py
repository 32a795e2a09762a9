"""The demo: a throwaway repository, a plan of scripted agents, the whole flow."""
