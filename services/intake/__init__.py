"""Jail intake (#45): bookings the way jail systems export them. ``niem`` reads a NIEM Booking
and Release document into SPEC 3.1's events (pure)."""
