"""社情民意 reports (条例第四十七条): periods, data gathering, charts, and HTML/PDF/CSV writers."""
