-- Stored Merkle nodes of one height at these indexes (a proof's pieces).
SELECT DISTINCT idx, lower(hex(hash)) AS hash
FROM merkle_nodes
WHERE height = {height:UInt8} AND idx IN {idxs:Array(UInt64)}
