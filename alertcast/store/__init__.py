"""The database: tables, migrations, the outbox and the alert store."""
