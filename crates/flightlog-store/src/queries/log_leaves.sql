-- The Merkle log's leaves in order: every stored step hash by log_index.
SELECT lower(hex(step_hash)) AS h FROM steps ORDER BY log_index
