"""Reminders through Kakao's Event API: the data, the Event API client and the notifier."""
