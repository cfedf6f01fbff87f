"""Demo data for `make run`: a catalogue of people, agents and claims (`catalogue.py`) and the `demo_seed`
command that plays it through the services. It imports every app, so it sits above them all."""
