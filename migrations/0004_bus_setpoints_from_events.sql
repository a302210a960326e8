-- Fills bus_setpoints for a database that predates it: each bus's newest setpoint.accepted
-- event becomes its row (what Engine.lastBusSetpoint used to find by scanning the last 200
-- events, without the 200 limit). One pass over the setpoint.accepted events (type index).
INSERT INTO `bus_setpoints` (`bus_id`, `voltage_v`, `current_a`, `origin`, `at`, `standby`)
SELECT e.`bus_id`,
       json_extract(e.`data`, '$.voltageV'),
       json_extract(e.`data`, '$.currentA'),
       coalesce(json_extract(e.`data`, '$.origin'), 'unknown'),
       e.`ts`,
       CASE WHEN json_extract(e.`data`, '$.standby') THEN 1 ELSE 0 END
FROM `events` e
JOIN (
  SELECT `bus_id`, max(`id`) AS `id`
  FROM `events`
  WHERE `type` = 'setpoint.accepted' AND `bus_id` IS NOT NULL
    AND json_type(`data`, '$.voltageV') IN ('integer', 'real')
    AND json_type(`data`, '$.currentA') IN ('integer', 'real')
  GROUP BY `bus_id`
) latest ON latest.`id` = e.`id`
ON CONFLICT (`bus_id`) DO NOTHING;
