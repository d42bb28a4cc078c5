"""What the data is checked against: freshness SLAs (`freshness`), the accepted schema of each
raw table and its drift (`drift`, `snapshot`), and the read-only warehouse queries they share
(`warehouse`). Plain functions over plain records; the flows run them and publish what they find."""
