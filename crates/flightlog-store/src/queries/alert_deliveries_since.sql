-- The newest delivery of each (rule, incident) made at or after
-- `since_us`: what the alert outbox already sent, loaded at start-up.
SELECT project, rule, incident_id, max(count) AS count, max(delivered_us) AS delivered_us
FROM (SELECT * FROM alert_deliveries WHERE delivered_us >= {since_us:Int64})
GROUP BY project, rule, incident_id
