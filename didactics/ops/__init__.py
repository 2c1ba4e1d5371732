"""Operations: backups and restores, structured request logs."""
