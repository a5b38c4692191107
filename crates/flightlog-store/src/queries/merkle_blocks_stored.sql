-- How many blocks of the log (2^height leaves each) have their node
-- stored at {height}: they are stored in order, so the highest index + 1.
SELECT if(count() = 0, 0, max(idx) + 1) AS blocks
FROM merkle_nodes
WHERE height = {height:UInt8}
