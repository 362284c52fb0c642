"""The simulated providers a trip is booked with: payments, flights, hotels, cars, e-mail.

Each one is a Celery worker's handlers, acting on its own records (`records.py`) and replying to
the orchestrator; `runner.py` is the part they share. (The booking service layer Django readers
might look for is `booking/bookings.py`.)
"""
