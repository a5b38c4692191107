-- Stored Merkle nodes at these keys (a proof's pieces), every height in one
-- read. A key is height · 2^56 + idx (merkle_nodes.rs); the heights and the
-- indexes listed apart let the primary key (height, idx) skip the rest.
SELECT DISTINCT height, idx, lower(hex(hash)) AS hash
FROM merkle_nodes
WHERE height IN {heights:Array(UInt8)} AND idx IN {idxs:Array(UInt64)}
  AND bitOr(bitShiftLeft(toUInt64(height), 56), idx) IN {keys:Array(UInt64)}
