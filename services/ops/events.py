"""Every log event name the services write, in one place.

Operators search, count and alert on these names, so a log call names a constant from here,
never a string of its own (``tests/unit/test_log_events.py`` reads every call to check).
A log line never carries a person's name or date of birth, whatever its event.
"""

from __future__ import annotations

from typing import Final

# --- booking: jail.booking.v1 -> booking.state.v1
BOOKING_STATE_EMITTED: Final = "booking_state_emitted"  # debug: one per jail event
BOOKING_STATE_RESENT: Final = "booking_state_resent"  # the same message again after a crash
STALE_EVENT_DROPPED: Final = "stale_event_dropped"  # an older sequence than the one applied

# --- scheduling: booking state + agency requests -> schedules, alerts
SCHEDULE_CHANGED: Final = "schedule_changed"  # debug: one per booking state
STALE_STATE_DROPPED: Final = "stale_state_dropped"  # an older booking revision
REQUEST_RECEIVED: Final = "request_received"
REQUEST_RECEIVED_AFTER_RELEASE: Final = "request_received_after_release"
REQUEST_WITHDRAWN: Final = "request_withdrawn"
DEADLINE_ARMED: Final = "deadline_armed"
ALERT_EMITTED: Final = "alert_emitted"
ALERT_NOT_ACKNOWLEDGED: Final = "alert_not_acknowledged"  # by the broker; the agent sends it
ALERTS_RECORDED: Final = "alerts_recorded"  # the timer sent them, the agent wrote the state
FIRE_EARLY_SKIPPED: Final = "fire_early_skipped"
ALERT_ALREADY_SENT: Final = "alert_already_sent"  # read back on the broker: recorded, not resent
OUTPUTS_READ_BACK: Final = "outputs_read_back"
OUTPUTS_NOT_READ_BACK: Final = "outputs_not_read_back"

# --- notification: alerts + acks (+ booking states) -> notices, ledger
NOTICE_ISSUED: Final = "notice_issued"
ALERT_HELD: Final = "alert_held"  # read before its booking state: rendered when that arrives
NOTICE_RESENT: Final = "notice_resent"
NOTICE_SUPPRESSED: Final = "notice_suppressed"  # by the jurisdiction's policy
NOTICE_ACKNOWLEDGED: Final = "notice_acknowledged"
# --- intake: jails' NIEM documents, agencies' requests over HTTP (#45); never a person's data
INTAKE_ACCEPTED: Final = "intake_accepted"  # 202: the broker has every event of the body
INTAKE_REFUSED: Final = "intake_refused"  # 401/403/413/415/422: the status, the sender's slug
INTAKE_BROKER_UNAVAILABLE: Final = "intake_broker_unavailable"  # 503: send it again
# --- intake: a jail's roster polled (#45); booking numbers and counts, never names
ROSTER_APPLIED: Final = "roster_applied"  # its changes published, the snapshot saved
ROSTER_HELD: Final = "roster_held"  # error: too many bookings gone at once; nothing applied
ROSTER_UNAVAILABLE: Final = "roster_unavailable"  # the file or URL could not be read
ROSTER_NOT_PUBLISHED: Final = "roster_not_published"  # the broker did not take the events
ROSTER_REAPPEARED: Final = "roster_reappeared"  # listed again after an inferred release
# --- the ledger's seals (#46): partitions, offsets, key ids; never a record's content
LEDGER_KEY_CREATED: Final = "ledger_key_created"  # development: a signing key made on first use
LEDGER_SEALING: Final = "ledger_sealing"  # partitions taken, each going on from its last seal
LEDGER_SEALED: Final = "ledger_sealed"  # a seal written: partition, offsets, count
LEDGER_SEAL_NOT_WRITTEN: Final = "ledger_seal_not_written"  # the broker did not take it: again
# --- person data sealed (#46): key ids and field names, never a value
PERSON_DATA_IN_CLEAR: Final = "person_data_in_clear"  # development: no RELEASEWATCH_KEK_FILE
PERSON_UNOPENED: Final = "person_unopened"  # a sealed value its key did not open: why
PERSON_NOT_SEALED: Final = "person_not_sealed"  # a record's key did not unwrap: stored as is
BOOKING_KEY_MADE: Final = "booking_key_made"  # debug: a booking's data key, made and sent
BOOKING_KEY_DESTROYED: Final = "booking_key_destroyed"  # the booking retired: shredded
# --- people signing in to the board (#46): names of staff, never of the people in custody
BOARD_OPEN_WITHOUT_SIGN_IN: Final = "board_open_without_sign_in"  # development: no users file
SIGNED_IN: Final = "signed_in"  # the staff member's name
SIGN_IN_REFUSED: Final = "sign_in_refused"  # the name tried and why (wrong, locked)
SECOND_FACTOR_NOT_CHECKED: Final = "second_factor_not_checked"  # OIDC_MFA_AMR empty: trusted
ACCESS_NOT_RECORDED: Final = "access_not_recorded"  # ops.access.v1 refused: the look refused
# --- notification: delivery beyond Kafka (#44); host only, never the URL's path or a secret
WEBHOOK_ATTEMPTED: Final = "webhook_attempted"  # one per POST: status or error, latency
EMAIL_ATTEMPTED: Final = "email_attempted"  # one per SMTP submission: reply code or error
NOTICE_DELIVERED: Final = "notice_delivered"  # the agency's endpoint confirmed it (2xx)
DELIVERY_RETRY_SCHEDULED: Final = "delivery_retry_scheduled"
DELIVERY_ENDED_UNDELIVERED: Final = "delivery_ended_undelivered"  # 410 or gave up: escalated
ACK_TAKEN: Final = "ack_taken"  # over HTTP, with a genuine token: on notice.acks.v1
ACK_REFUSED: Final = "ack_refused"  # over HTTP: 401/404/410, dead-lettered
ACK_LINKS_TO_THIS_WORKER: Final = "ack_links_to_this_worker"  # no RELEASEWATCH_ACK_BASE_URL

# --- scheduling and notification
ESCALATION_RAISED: Final = "escalation_raised"
DEADLINES_REBUILT: Final = "deadlines_rebuilt"
DEADLINES_NOT_PUBLISHED: Final = "deadlines_not_published"
# A closed booking's record shrank to a stub (drops late duplicates), then went (tombstone).
RECORD_RETIRED: Final = "record_retired"
RECORD_FORGOTTEN: Final = "record_forgotten"

# --- every service: input, output, bad input
MESSAGES_HANDLED: Final = "messages_handled"  # info, each second: what the inputs brought
DUPLICATE_DROPPED: Final = "duplicate_dropped"
BROKER_NODE_LOST: Final = "broker_node_lost"  # a node of the embedded cluster exited
BROKER_NODE_RESTARTED: Final = "broker_node_restarted"  # started again after its back-off
INPUT_PLACED: Final = "input_placed"  # off its booking's partition: moved to it (debug)
INPUT_PARTITIONS_DIFFER: Final = "input_partitions_differ"  # a public input's count: all moved
EVENT_DEAD_LETTERED: Final = "event_dead_lettered"
MESSAGE_FAILED: Final = "message_failed"  # an unexpected error: dead-lettered, partition goes on
LOCAL_STATE_KEPT: Final = "local_state_kept"  # RocksDB tables trusted: only the tails replay
LOCAL_STATE_REBUILT: Final = "local_state_rebuilt"  # emptied (why): rebuilt from the changelogs
TRACES_EXPORTED: Final = "traces_exported"  # OpenTelemetry on: spans go to the OTLP endpoint
OUTPUT_REFUSED: Final = "output_refused"  # the broker refused a write: the input is read again
INPUT_GAP_SEEK_BACK: Final = "input_gap_seek_back"
INPUT_GAP_ACCEPTED: Final = "input_gap_accepted"  # retention deleted the missing offsets
INPUT_GAP_STILL_OPEN: Final = "input_gap_still_open"  # missing long, still on the broker
INPUT_STALLED_SEEK_BACK: Final = "input_stalled_seek_back"
INPUT_WATCH_FAILED: Final = "input_watch_failed"  # the stall watchdog, tried again next second
RECOVERY_PAST_MARKERS: Final = "recovery_past_markers"  # a changelog ends with markers only
RECOVERY_WATCH_FAILED: Final = "recovery_watch_failed"  # tried again at the next look
PARTITIONS_ASSIGNED: Final = "partitions_assigned"
GC_PAUSE: Final = "gc_pause"
GC_UNFREEZE: Final = "gc_unfreeze"

# --- Kafka clients and topics
COMMITTED_OFFSET_FROM_BROKER: Final = "committed_offset_from_broker"
COMMITTED_OFFSET_UNKNOWN: Final = "committed_offset_unknown"
LOG_START_UNKNOWN: Final = "log_start_unknown"
FAUST_FIXES_SWITCHED_OFF: Final = "faust_fixes_switched_off"
TRANSACTION_FENCED: Final = "transaction_fenced"  # the worker replaces itself (execve)
# exactly_once: a record of a transaction was refused; the worker replaces itself unbegun
TRANSACTION_OUTPUT_REFUSED: Final = "transaction_output_refused"
TRANSACTION_UNKNOWN: Final = "transaction_unknown"  # a commit for a partition not held
COMMIT_BEFORE_REVOKE_FAILED: Final = "commit_before_revoke_failed"  # read again: repeats
FETCH_WAIT_CHANGED: Final = "fetch_wait_changed"
TOPICS_CREATED: Final = "topics_created"
TOPIC_WAITING_FOR_BROKERS: Final = "topic_waiting_for_brokers"
TOPIC_RETENTION_CHANGED: Final = "topic_retention_changed"  # RELEASEWATCH_JAIL_RETENTION_DAYS
KEY_SERVICE_UNAVAILABLE: Final = "key_service_unavailable"  # the HSM/KMS: the input read again

# --- the process supervisor (releasewatch up), the board, the simulator
EMBEDDED_BROKER_STARTED: Final = "embedded_broker_started"
SERVICE_STARTING: Final = "service_starting"
SERVICE_DIED: Final = "service_died"
STOPPED: Final = "stopped"
BOARD_SERVING: Final = "board_serving"
SIMULATOR_PROGRESS: Final = "simulator_progress"
SIMULATOR_DONE: Final = "simulator_done"
