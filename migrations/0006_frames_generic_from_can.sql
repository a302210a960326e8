-- Fills the generic frame columns (0005) of the frames recorded before them, all CAN frames:
-- protocol 'can', link = the bus id, address = the CAN id in zero-padded upper-case hex
-- (8 digits for an extended id, 3 for a standard one, as canIdHex shows it without "0x"),
-- bytes = the data field, meta = the CAN flags. Migration 0007 then drops the CAN columns.
UPDATE `frames`
SET `protocol` = 'can',
    `link` = `bus_id`,
    `address` = CASE WHEN `extended` THEN printf('%08X', `can_id`) ELSE printf('%03X', `can_id`) END,
    `bytes` = `data`,
    `meta` = json_object(
      'extended', json(CASE WHEN `extended` THEN 'true' ELSE 'false' END),
      'remote', json(CASE WHEN `remote` THEN 'true' ELSE 'false' END)
    )
WHERE `protocol` IS NULL;
