"""Make audit events append-only in Postgres (see apps.audit.models for the rule)."""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION audit_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- Only Django's SET_NULL when the actor or the workspace is deleted may change a row.
        IF (to_jsonb(NEW) - 'actor_id' - 'workspace_id')
               = (to_jsonb(OLD) - 'actor_id' - 'workspace_id')
           AND (NEW.actor_id IS NULL OR NEW.actor_id = OLD.actor_id)
           AND (NEW.workspace_id IS NULL OR NEW.workspace_id = OLD.workspace_id) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit events are append-only: UPDATE refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF current_setting('docqa.audit_purge', true) = 'on' THEN
        RETURN OLD;  -- the retention purge (apps.audit.services.purge_expired)
    END IF;
    RAISE EXCEPTION 'audit events are append-only: DELETE refused outside the retention purge'
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
