"""Live inverter telemetry: the inverter registry, vendor adapters, the scheduled poller and the fan-out
of readings through Redis.

    models          Reading, Inverter, InverterCreate (SPEC §3) and the stored InverterRecord
    registry, seed  registering inverters; the local stack's demo inverters
    inverter_store  registration + latest reading + poll state, one item per inverter
    reading_store   reading history with TTL
    adapters/       one module per vendor: vendor payload -> Reading
    policies        vendor limits, due times, device back-off
    ratelimit       per-vendor token buckets shared in Redis
    poller          one poll cycle; runtime wires it from settings; publish fans readings out
"""
