"""Great Expectations suites per raw entity (suites.py) and the runner that turns results into asset checks."""
